/**
 * Word lists for the synthetic data generator. Catalogue artists (the song files) and the artists of
 * unmatched plays (PLAY_ONLY_ARTISTS) are disjoint, so a play meant not to match any song cannot match by
 * chance. Several entries carry non-ASCII letters, commas, quotes, apostrophes and slashes on purpose.
 */

export const ADJECTIVES = [
  'Blue', 'Broken', 'Electric', 'Golden', 'Hollow', 'Silent', 'Velvet', 'Wild', 'Crimson', 'Neon', 'Lonely',
  'Burning', 'Frozen', 'Midnight', 'Paper', 'Sweet', 'Dark', 'Little', 'Lost', 'Northern', 'Rusty', 'Secret',
  'Shiny', 'Strange', 'Tender', 'Cosmic', 'Dusty', 'Fading', 'Hidden', 'Savage',
] as const;

export const NOUNS = [
  'Heart', 'River', 'Night', 'Fire', 'Road', 'Dream', 'Rain', 'Mirror', 'Ocean', 'Train', 'Garden', 'Moon',
  'Sun', 'Shadow', 'City', 'Highway', 'Window', 'Wolf', 'Angel', 'Storm', 'Summer', 'Winter', 'Radio', 'Star',
  'Bridge', 'Desert', 'Echo', 'Island', 'Letter', 'Machine', 'Horizon', 'Satellite',
] as const;

export const VERBS = [
  'Dance', 'Run', 'Fall', 'Hold', 'Wait', 'Break', 'Burn', 'Dream', 'Shine', 'Drive', 'Follow', 'Remember',
  'Forget', 'Carry', 'Chase', 'Leave',
] as const;

export const PREPOSITIONS = ['In', 'On', 'Under', 'Through', 'Over', 'Into', 'Beyond', 'Across', 'With', 'Without'] as const;

/** Words with non-ASCII letters, used now and then in titles. */
export const FOREIGN_WORDS = [
  'Señorita', 'Café', 'Für Elise', 'Déjà Vu', 'Niño', 'Ça Plane', 'Smörgåsbord', 'Ærø', 'Łódź', 'Čaj',
  '夜明け', '사랑', 'Любовь', 'Ελπίδα', 'Straße', 'Naïve',
] as const;

export const FIRST_NAMES_ARTIST = [
  'John', 'Mary', 'Lucas', 'Anna', 'DJ', 'Little', 'Big', 'Marcus', 'Elena', 'Jimmy', 'Sofía', 'Björn', 'Zoë',
  'Renée', 'Jürgen', 'Ólafur', 'Gaël', 'Ryūichi', 'Nina', 'Otis',
] as const;

export const LAST_NAMES_ARTIST = [
  'Walker', 'Stone', 'Rivers', 'Gray', 'Holloway', 'McKenzie', 'Núñez', "O'Connell", 'Brønner', 'Dvořák',
  'Schäfer', 'Kowalczyk', 'Fontaine', 'Okafor', 'Ishikawa', 'Lindqvist',
] as const;

/** Catalogue artists used as they are: names with non-ASCII letters, CJK, punctuation. */
export const SPECIAL_ARTISTS = [
  'Beyoncé', 'Sigur Rós', 'Motörhead', '坂本龍一', 'Mötley Crüe', 'Blue Öyster Cult', 'Zoë Keating',
  'Ólafur Arnalds', 'Hüsker Dü', 'Los Tigres del Norte', 'Earth, Wind & Fire', 'Crosby, Stills & Nash',
  'Guns N\' Roses', 'The B-52\'s', 'AC/DC', 'Sunn O)))', '少女時代', '椎名林檎', 'Mano Negra', 'Amadou & Mariam',
  'Jean-Michel Jarre', 'Ибица', 'Ελευθερία Αρβανιτάκη', 'Tiësto',
] as const;

/** Artists of plays that match no song: never produced for the catalogue. */
export const PLAY_ONLY_ARTISTS = [
  "Des'ree", 'Mr Oizo', 'Tamba Trio', 'The Mars Volta', 'Infected Mushroom', 'Blue October / Imogen Heap',
  'Girl Talk', 'Black Eyed Peas', 'Fall Out Boy', 'M.I.A.', 'Kings Of Leon', 'Coldplay', 'Dwight Yoakam',
  'Björk', 'Édith Piaf', '宇多田ヒカル', 'Café Tacvba', 'Jack Johnson', 'Florence + The Machine',
  'Harmonia', 'The Black Keys', 'Muse', 'Kanye West', 'BjÃ¶rk', 'Camila Cabello, Young Thug',
  'Rhythm "N" Blues Band', 'Backslash \\ Collective', 'Röyksopp', 'Alejandro Fernández', 'Sade',
] as const;

/** Titles of plays that match no song (combined with PLAY_ONLY_ARTISTS). */
export const PLAY_ONLY_TITLES = [
  'You Gotta Be', 'Flat 55', 'Quem Quiser Encontrar O Amor', 'Eriatarka', 'Becoming Insane', 'Congratulations',
  'Once again', 'Pump It', 'Nobody Puts Baby In The Corner', 'Mango Pickle Down River (With The Wilcannia Mob)',
  "You're The One", 'Undo', 'Revelry', 'Yellow', 'Sehr kosmisch', 'Hey, Soul Sister', 'Secrets',
  'Use Somebody', 'Dog Days Are Over (Radio Edit)', 'Horn Concerto No. 4 in E flat K495: II. Romance (Andante cantabile)',
  'Somebody To Love', '"Heroes"', 'Back\\Slash', 'Canción Mixteca', 'Hjartað hamast (bamm bamm bamm)',
  'Ça plane pour moi', 'Für Elise', 'Hoy, mañana y siempre',
] as const;

/** Artist locations (song files); "" is added by the generator for a share of artists. */
export const ARTIST_LOCATIONS = [
  'Memphis, TN', 'California - LA', 'London, England', 'New York, NY', 'Chicago, IL', 'Detroit, MI',
  'Reykjavík, Iceland', 'São Paulo, Brazil', 'Tokyo, Japan', 'Kingston, Jamaica', 'Berlin, Germany',
  'Hamilton, Ohio', 'Montréal, Québec, Canada', 'Seattle, WA', 'Nashville, TN', 'Paris, France', 'Lagos, Nigeria',
  'UK', 'Texas', 'Düsseldorf, Germany', 'Mexico City, Mexico', 'Bergen, Norway', 'Atlanta, GA', 'Dublin',
] as const;

export const FIRST_NAMES_USER_F = [
  'Kaylee', 'Sylvie', 'Lily', 'Jacqueline', 'Chloe', 'Tegan', 'Ava', 'Mohammad', 'Jayden', 'Katherine', 'Zoë',
  'Anabelle', 'Aleena', 'Rylan', 'Émilie', 'Łucja', 'Sakura', 'Leyla',
] as const;

export const FIRST_NAMES_USER_M = [
  'Walter', 'Ryan', 'Jacob', 'Kevin', 'Theodore', 'Sean', 'Wyatt', 'Jordan', 'Cienna', 'Matthew', 'Jizelle',
  'José', 'Søren', 'Ngô', 'Noah', 'Aiden', 'Stefany', 'Lucas',
] as const;

export const LAST_NAMES_USER = [
  'Frye', 'Summers', 'Cruz', 'Smith', 'Koch', 'Levine', 'Harrell', 'Arellano', 'Rodriguez', 'Kirby', 'Scott',
  "O'Brien", 'Núñez', 'Müller', 'Kowalski', 'Nguyễn', 'Jones', 'Williams', 'Lynch', 'Riley', 'Daniel', 'Hicks',
] as const;

/** User locations: metropolitan areas, each with a comma. */
export const USER_LOCATIONS = [
  'San Francisco-Oakland-Hayward, CA', 'Phoenix-Mesa-Scottsdale, AZ', 'Washington-Arlington-Alexandria, DC-VA-MD-WV',
  'San Jose-Sunnyvale-Santa Clara, CA', 'New York-Newark-Jersey City, NY-NJ-PA', 'Atlanta-Sandy Springs-Roswell, GA',
  'Chicago-Naperville-Elgin, IL-IN-WI', 'Lansing-East Lansing, MI', 'Houston-The Woodlands-Sugar Land, TX',
  'Portland-South Portland, ME', 'Tampa-St. Petersburg-Clearwater, FL', 'Los Angeles-Long Beach-Anaheim, CA',
  'Birmingham-Hoover, AL', 'Janesville-Beloit, WI', 'Winston-Salem, NC', 'Red Bluff, CA', 'Marinette, WI-MI',
  'Santa Maria-Santa Barbara, CA', 'Augusta-Richmond County, GA-SC', 'Elkhart-Goshen, IN',
] as const;

/** User agents; written with escaped slashes. Some carry literal double quotes, as in the real logs. */
export const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36',
  'Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/35.0.1916.153 Safari/537.36',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Ubuntu Chromium/36.0.1985.125 Chrome/36.0.1985.125 Safari/537.36',
  'Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0',
  '"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/37.0.2062.103 Safari/537.36"',
  '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.77.4 (KHTML, like Gecko) Version/7.0.5 Safari/537.77.4"',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.9; rv:31.0) Gecko/20100101 Firefox/31.0',
  '"Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"',
  'Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.2; WOW64; Trident/6.0)',
  'Mozilla/5.0 (Windows NT 6.3; WOW64; Trident/7.0; rv:11.0) like Gecko',
] as const;
